// Decorates the app with the data plane (src/serving/plane.ts): the one way any front-end runs
// inference and reads the calibration it applies.
import fp from 'fastify-plugin'
import { DataPlane } from '../serving/plane.js'

declare module 'fastify' {
  interface FastifyInstance {
    plane: DataPlane
  }
}

export default fp(
  async (app) => {
    app.decorate('plane', new DataPlane(app.models, app.calibrations))
  },
  { name: 'calserve-plane', dependencies: ['calserve-models', 'calserve-store'] },
)
