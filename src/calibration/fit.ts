// The fitting methods: sweep (exact best γ for an objective), ALG (average logit gap) and the
// temperature fit that may follow either. One module each; this file is their public face.
export { sweep } from './sweep.js'
export { alg } from './alg.js'
export { fitTemperature } from './temperature.js'
