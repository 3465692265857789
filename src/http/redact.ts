// What the logs may show of a request: a URL with the value of every query parameter named like a
// secret replaced, so a client that puts its token in the query string (?token=…, ?access_token=…)
// does not find it in the logs. calserve itself reads no secret from the query string.
const SECRET_PARAM = /token|key|secret|password|passwd|auth|signature|sig$/i

export function redactQuery(url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const parts = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      const name = eq < 0 ? pair : pair.slice(0, eq)
      let decoded = name
      try {
        decoded = decodeURIComponent(name)
      } catch {
        // keep the raw name
      }
      return eq >= 0 && SECRET_PARAM.test(decoded) ? `${name}=[redacted]` : pair
    })
  return `${url.slice(0, q)}?${parts.join('&')}`
}
