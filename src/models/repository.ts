// The model repository: <root>/<name>/model.json and <root>/<name>/<version>/model.onnx. Each
// model loads on its own; one that fails is marked FAILED with the reason and the rest still serve.
// A root that holds a model.json itself is one model (the layout KServe's storage initializer
// leaves in /mnt/models), served under the configured single-model name.
import { readdir, stat } from 'node:fs/promises'
import { basename, join, resolve, sep } from 'node:path'
import type { FastifyBaseLogger as Logger } from 'fastify'
import { MODEL_NAME } from '../api/names.js'
import { CalserveError, modelNotFound } from '../errors.js'
import { AUTO_WORKER_MS, ManifestError, readManifest, type ExecutionProvider, type Manifest } from './manifest.js'
import { Batcher, type BatchObserver } from './batcher.js'
import { ModelLoadError, OnnxRunner, type SessionSettings, type TensorIO } from './runner.js'
import { WorkerRunner, type Runner } from './worker-runner.js'
import { ImagePlanError, planImage, type ImagePlan } from '../inputs/image-plan.js'
import { PREPROCESSOR_CONFIG, PreprocessorConfigError, readPreprocessorConfig } from '../inputs/image-hf.js'

const VERSION_FOLDER = /^[1-9][0-9]*$/

/** UNAVAILABLE: unloaded by an operator (POST /v2/repository/models/{m}/unload). */
export type ModelState = 'LOADING' | 'READY' | 'FAILED' | 'UNAVAILABLE'

export interface ServedModel {
  name: string
  version: number | null
  state: ModelState
  reason: string | null
  manifest: Manifest | null
  /** 1 for each absent class (not in fine_tuning_classes), in logit order. */
  absent: Uint8Array
  labelIndex: Map<string, number>
  runner: Runner | null
  /** Every inference of this model goes through its batcher. */
  batcher: Batcher | null
  provider: ExecutionProvider | null
  /** Set when a provider earlier in the list could not be used. */
  fallback: string | null
  /** How encoded images become this model's input; null: the model takes tensors only. */
  image: ImagePlan | null
  /** The model.onnx the served version was loaded from (what an export rewrites); null until loaded. */
  file: string | null
}

export type ReadyModel = ServedModel & {
  version: number
  file: string
  manifest: Manifest
  runner: Runner
  batcher: Batcher
  provider: ExecutionProvider
}

export class ModelRepository {
  private readonly models = new Map<string, ServedModel>()
  private loaded = false

  constructor(
    private readonly root: string,
    private readonly defaultProviders: ExecutionProvider[],
    private readonly log: Logger,
    private readonly observer: (model: string) => BatchObserver = () => ({ ran() {}, queued() {} }),
    /** The name of the one model when the root is itself a model folder; default: the root's folder name. */
    private readonly singleModelName: string = basename(resolve(root)),
  ) {}

  /** Set by loadAll when the root holds a model.json: the name it serves under. */
  private single: string | null = null
  private dirOf(name: string): string {
    return name === this.single ? this.root : join(this.root, name)
  }

  /** Scans the repository and loads every model; resolves when each is READY or FAILED. */
  async loadAll(): Promise<void> {
    let names: string[]
    try {
      const entries = await readdir(this.root, { withFileTypes: true })
      if (entries.some((e) => e.isFile() && e.name === 'model.json')) this.single = this.singleModelName
      // A symlink to a folder is a model folder, as the load route (stat) and Triton see it.
      const isFolder = async (e: (typeof entries)[number]) =>
        e.isDirectory() || (e.isSymbolicLink() && (await stat(join(this.root, e.name)).then((st) => st.isDirectory(), () => false)))
      const folders = await Promise.all(entries.map(async (e) => ((await isFolder(e)) ? e.name : null)))
      names = this.single !== null ? [this.single] : folders.filter((n): n is string => n !== null).sort()
    } catch (err) {
      throw new Error(`model repository ${this.root} cannot be read: ${(err as Error).message}`, { cause: err })
    }
    for (const name of names) {
      if (!MODEL_NAME.test(name)) {
        this.log.warn({ folder: name }, 'skipping a folder whose name is not a valid model name')
        continue
      }
      this.models.set(name, emptyModel(name))
    }
    // One at a time: loading is CPU-bound and the warm-up of one model shouldn't slow another's.
    for (const name of this.models.keys()) this.models.set(name, await this.loadModel(name))
    this.loaded = true
  }

  /**
   * (Re)loads a model from the repository: its highest version is loaded and warmed up beside
   * the one serving, then swapped in; the old version's sessions close once their in-flight work
   * is done. Nothing fails during the switch. If the new load fails, the old version keeps
   * serving and the error says why. Loads and unloads of one model run one at a time.
   */
  load(name: string): Promise<ServedModel> {
    return this.serialised(name, async () => {
      await this.assertInRepository(name)
      const next = await this.loadModel(name)
      const current = this.models.get(name)
      if (next.state !== 'READY') {
        if (current?.state === 'READY')
          throw new CalserveError('MODEL_LOAD_FAILED', `model '${name}' could not be loaded; version ${current.version} keeps serving: ${next.reason}`, {
            model: name,
            serving: current.version,
          })
        this.models.set(name, next)
        throw new CalserveError('MODEL_LOAD_FAILED', `model '${name}' could not be loaded: ${next.reason}`, { model: name })
      }
      this.models.set(name, next)
      if (current) this.retire(current)
      return next
    })
  }

  /** 404 unless the repository has a folder for `name`, loaded or not. */
  async assertInRepository(name: string): Promise<void> {
    if (!MODEL_NAME.test(name)) throw modelNotFound(name)
    if (this.single !== null && name !== this.single) throw modelNotFound(name)
    const exists = await stat(this.dirOf(name)).then((s) => s.isDirectory(), () => false)
    if (!exists) throw modelNotFound(name)
  }

  /** Stops serving a model: it stays listed as UNAVAILABLE; in-flight requests finish first. */
  unload(name: string): Promise<ServedModel> {
    return this.serialised(name, async () => {
      const current = this.get(name)
      const unloaded: ServedModel = { ...emptyModel(name), state: 'UNAVAILABLE', reason: 'unloaded', version: current.version, manifest: current.manifest }
      this.models.set(name, unloaded)
      this.retire(current)
      return unloaded
    })
  }

  private readonly pending = new Map<string, Promise<unknown>>()
  private serialised<T>(name: string, work: () => Promise<T>): Promise<T> {
    const run = (this.pending.get(name) ?? Promise.resolve()).then(work, work)
    this.pending.set(name, run.catch(() => {}))
    return run
  }

  /** Closes a replaced model's batcher and session once nothing uses them any more. */
  private retire(model: ServedModel): void {
    const { batcher, runner } = model
    if (!batcher || !runner) return
    this.retiring.add(
      batcher
        .retire()
        .then(() => runner.close())
        .catch((err: unknown) => this.log.warn({ err, model: model.name }, 'closing a retired session failed')),
    )
  }
  private readonly retiring = new Set<Promise<void>>()

  private async loadModel(name: string): Promise<ServedModel> {
    const model = emptyModel(name)
    const dir = this.dirOf(model.name)
    try {
      model.version = await highestVersion(dir)
      const manifest = await readManifest(join(dir, 'model.json'))
      model.manifest = manifest
      model.labelIndex = new Map(manifest.labels.map((l, i) => [l, i]))
      const fineTuning = new Set(manifest.fine_tuning_classes)
      model.absent = Uint8Array.from(manifest.labels, (l) => (fineTuning.has(l) ? 0 : 1))
      // The image block: model.json's, or else Hugging Face's preprocessor_config.json beside it.
      const hfConfig = join(dir, PREPROCESSOR_CONFIG)
      const image = manifest.image
        ? { block: manifest.image, source: 'model.json' as const }
        : (await stat(hfConfig).then((s) => s.isFile(), () => false))
          ? { block: await readPreprocessorConfig(hfConfig), source: PREPROCESSOR_CONFIG }
          : null
      const file = join(dir, String(model.version), 'model.onnx')
      const loaded = await loadRunner(
        file,
        manifest.execution_providers ?? this.defaultProviders,
        { input: manifest.input, output: manifest.output },
        manifest.session,
      )
      this.log.info({ model: model.name, thread: loaded.thread, sample_ms: loaded.sampleMs }, 'inference thread chosen')
      if (loaded.runner.outputWidth !== manifest.labels.length) {
        await loaded.runner.close()
        throw new ModelLoadError(
          `${join(dir, 'model.json')}: labels has ${manifest.labels.length} entries but output '${loaded.runner.io.output.name}' has ${loaded.runner.outputWidth} columns`,
        )
      }
      if (image) {
        try {
          model.image = planImage(image.block, loaded.runner.io.input.shape, image.source)
        } catch (err) {
          await loaded.runner.close()
          throw err
        }
      }
      const runner = loaded.runner
      const batcher = new Batcher(
        runner,
        {
          maxBatchSize: manifest.batching.max_batch_size,
          maxQueueDelayMs: manifest.batching.max_queue_delay_ms,
          maxQueueSize: manifest.batching.max_queue_size,
          concurrency: manifest.session.concurrency,
        },
        this.observer(model.name),
      )
      Object.assign(model, { runner, batcher, provider: loaded.provider, fallback: loaded.fallback, file, state: 'READY' })
      if (loaded.fallback) this.log.warn({ model: model.name, fallback: loaded.fallback }, 'execution provider fell back')
      this.log.info({ model: model.name, version: model.version, provider: loaded.provider }, 'model ready')
    } catch (err) {
      const known = err instanceof ManifestError || err instanceof ModelLoadError || err instanceof ImagePlanError || err instanceof PreprocessorConfigError
      const message = known ? err.message : `failed to load: ${(err as Error).message}`
      model.state = 'FAILED'
      // Clients see paths relative to the repository (tiny/model.json), not the server's layout;
      // the log keeps the full message.
      model.reason = message.split(`${resolve(this.root)}${sep}`).join('').split(`${this.root}${sep}`).join('')
      this.log.error({ model: model.name, reason: message }, 'model failed to load')
    }
    return model
  }

  /**
   * The model folders in the repository now, loaded or not, sorted: what the repository index lists
   * (as Triton's does), so a folder added since the start shows before anyone loads it.
   */
  async listOnDisk(): Promise<string[]> {
    if (this.single !== null) return [this.single]
    const entries = await readdir(this.root, { withFileTypes: true })
    return entries.filter((e) => e.isDirectory() && MODEL_NAME.test(e.name)).map((e) => e.name).sort()
  }

  list(): ServedModel[] {
    return [...this.models.values()]
  }

  has(name: string): boolean {
    return this.models.has(name)
  }

  get(name: string): ServedModel {
    const model = this.models.get(name)
    if (!model) throw modelNotFound(name)
    return model
  }

  /** The model if it can serve now; 503 with the reason otherwise. */
  ready(name: string): ReadyModel {
    const model = this.get(name)
    if (model.state !== 'READY')
      throw new CalserveError('MODEL_NOT_READY', `model '${name}' is ${model.state}${model.reason ? `: ${model.reason}` : ''}`, {
        model: name,
        state: model.state,
      })
    return model as ReadyModel
  }

  /** True once the repository was scanned and every model is READY or FAILED. */
  settled(): boolean {
    return this.loaded
  }

  async close(): Promise<void> {
    await Promise.all(this.retiring)
    for (const model of this.models.values()) {
      const { runner, batcher } = model
      model.runner = null
      model.batcher = null
      await batcher?.close()
      await runner?.close()
    }
  }
}

/** Loads the session on the thread the manifest asks for, or, for 'auto', on the one that fits. */
async function loadRunner(
  file: string,
  providers: ExecutionProvider[],
  declared: Partial<TensorIO>,
  settings: SessionSettings,
): Promise<{ runner: Runner; provider: ExecutionProvider; fallback: string | null; thread: 'main' | 'worker'; sampleMs: number | null }> {
  const onWorker = async (sampleMs: number | null) => ({ ...(await WorkerRunner.load(file, providers, declared, settings)), thread: 'worker' as const, sampleMs })
  if (settings.thread === 'worker') return onWorker(null)
  const onMain = await OnnxRunner.load(file, providers, declared, settings)
  if (settings.thread === 'main') return { ...onMain, thread: 'main', sampleMs: null }
  const sampleMs = await medianRunMs(onMain.runner)
  if (sampleMs <= AUTO_WORKER_MS) return { ...onMain, thread: 'main', sampleMs }
  await onMain.runner.close()
  return onWorker(sampleMs)
}

async function medianRunMs(runner: OnnxRunner, runs = 5): Promise<number> {
  const zeros = new Float32Array(runner.sampleSize)
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    await runner.run(zeros, 1)
    times.push(performance.now() - t0)
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!
}

function emptyModel(name: string): ServedModel {
  return {
    name,
    version: null,
    state: 'LOADING',
    reason: null,
    manifest: null,
    absent: new Uint8Array(0),
    labelIndex: new Map(),
    runner: null,
    batcher: null,
    provider: null,
    fallback: null,
    image: null,
    file: null,
  }
}

async function highestVersion(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true })
  const versions = entries.filter((e) => e.isDirectory() && VERSION_FOLDER.test(e.name)).map((e) => Number(e.name))
  versions.sort((a, b) => b - a)
  for (const v of versions) {
    const ok = await stat(join(dir, String(v), 'model.onnx')).then((s) => s.isFile(), () => false)
    if (ok) return v
  }
  throw new ModelLoadError(`${dir}: no version folder (1, 2, …) holds a model.onnx`)
}
