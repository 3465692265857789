// The request body types calserve accepts beside JSON, named once for every route.
export const OCTET_STREAM = 'application/octet-stream'
export const NDJSON = 'application/x-ndjson'
