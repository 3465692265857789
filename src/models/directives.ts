// Makes an operator's load or unload reach every replica, the way calibration changes do: the
// replica that took the request records a directive in the store and applies it; the others hear
// of it (or find it at the next reconcile) and apply it too. Each replica applies a generation once.
import type { FastifyBaseLogger } from 'fastify'
import { StoreFollower } from '../store/follower.js'
import type { ModelAction, ModelDirective, Store } from '../store/types.js'
import type { ModelRepository, ServedModel } from './repository.js'

export class ModelDirectives extends StoreFollower {
  private readonly applied = new Map<string, number>()

  constructor(
    private readonly store: Store,
    private readonly models: ModelRepository,
    private readonly log: FastifyBaseLogger,
  ) {
    super()
  }

  /** Records the directive, then applies it here; resolves with the model as it now is. */
  async issue(model: string, action: ModelAction, createdBy: string | null): Promise<ServedModel> {
    // The model must exist here before anything is recorded: a 404 changes nothing.
    if (action === 'unload') this.models.get(model)
    else await this.models.assertInRepository(model)
    const directive = await this.store.putModelDirective(model, action, createdBy)
    this.applied.set(model, directive.generation)
    return action === 'load' ? this.models.load(model) : this.models.unload(model)
  }

  // Started after the repository's first load: a model whose newest directive is an unload stays
  // unloaded on a replica that starts later.
  protected follow(): () => void {
    return this.store.subscribeModels((d) => void this.apply(d))
  }

  async reconcile(): Promise<void> {
    try {
      for (const d of await this.store.modelDirectives()) await this.apply(d)
    } catch (err) {
      this.reconcileFailed(err)
    }
  }

  protected reconcileFailed(err: unknown): void {
    this.log.warn({ err }, 'could not reconcile model directives')
  }

  private async apply(d: ModelDirective): Promise<void> {
    if (d.generation <= (this.applied.get(d.model) ?? 0)) return
    this.applied.set(d.model, d.generation)
    const current = this.models.has(d.model) ? this.models.get(d.model) : undefined
    // A fresh replica has already loaded everything: a 'load' it finds at start is done.
    if (d.action === 'load' && current?.state === 'READY' && !this.started) return
    try {
      await (d.action === 'load' ? this.models.load(d.model) : this.models.unload(d.model))
      this.log.info({ model: d.model, action: d.action, generation: d.generation }, 'applied a model directive from another replica')
    } catch (err) {
      this.log.warn({ err, model: d.model, action: d.action }, 'could not apply a model directive')
    }
  }
}
