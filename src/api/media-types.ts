// The request body types calserve accepts beside JSON, named once for every route.
export const OCTET_STREAM = 'application/octet-stream'
export const NDJSON = 'application/x-ndjson'
export const MULTIPART = 'multipart/form-data'
/** A tar in ImageFolder layout, optionally gzip-compressed, for image fit sets. */
export const IMAGE_SET_TYPES = ['application/x-tar', 'application/gzip', 'application/x-gzip']
export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp']
/** Every body type beside JSON that some route parses. */
export const BODY_TYPES = [NDJSON, OCTET_STREAM, ...IMAGE_TYPES, MULTIPART, ...IMAGE_SET_TYPES]
