// Names that travel in URLs and in the store, checked the same way by the routes and the repository.
/** A model name: a plain child folder of the repository (`.` and `..` hold the same characters but name the repository itself and its parent). */
export const MODEL_NAME = /^(?!\.\.?$)[A-Za-z0-9._-]+$/
