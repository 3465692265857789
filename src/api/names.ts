// Names that travel in URLs and in the store, checked the same way by the routes and the repository.
/** A model name: a plain folder name of the repository. */
export const MODEL_NAME = /^[A-Za-z0-9._-]+$/
