// Image data for `calserve fit` and `calserve predict --data`: one image file, or a folder in
// ImageFolder layout (<label>/<name>.png|jpg|jpeg|webp, the label being the folder's name), or a
// folder of unlabelled images. A fit streams the folder as a tar, one file at a time.
import { readdir, readFile, stat } from 'node:fs/promises'
import { basename, join, relative } from 'node:path'
import { pack } from 'tar-stream'
import { CliError } from './output.js'

export const IMAGE_FILE = /\.(png|jpe?g|webp)$/i
export const TAR = 'application/x-tar'

export interface ImageFile {
  path: string
  /** The folder's name for <label>/<file>; undefined for an image given alone or at the top. */
  label?: string
  size: number
  /** For messages and the tar member name: relative to the folder given. */
  where: string
}

/** True when `path` is a directory or an image file (so --data is image data, not a .csv/.json/.ndjson). */
export async function isImageData(path: string): Promise<boolean> {
  if (IMAGE_FILE.test(path)) return true
  return stat(path).then((s) => s.isDirectory(), () => false)
}

/** The images of a file or an ImageFolder directory, sorted by label then name. */
export async function listImages(path: string): Promise<ImageFile[]> {
  const info = await stat(path).catch(() => {
    throw new CliError(`${path}: no such file or folder`)
  })
  if (!info.isDirectory()) return [{ path, size: info.size, where: basename(path) }]
  const files: ImageFile[] = []
  for (const entry of (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue
    const full = join(path, entry.name)
    if (entry.isDirectory()) {
      for (const f of (await readdir(full, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
        if (!f.isFile() || !IMAGE_FILE.test(f.name)) continue
        const p = join(full, f.name)
        files.push({ path: p, label: entry.name, size: (await stat(p)).size, where: relative(path, p) })
      }
    } else if (entry.isFile() && IMAGE_FILE.test(entry.name)) files.push({ path: full, size: (await stat(full)).size, where: entry.name })
  }
  if (files.length === 0) throw new CliError(`${path}: no .png, .jpg, .jpeg or .webp images in it or in its class folders`)
  return files
}

/** The labelled images as a tar stream (<label>/<name>), read one file at a time. */
export function tarOf(files: readonly ImageFile[], onFile: (bytes: number) => void = () => {}): ReadableStream<Uint8Array> {
  const p = pack()
  const fill = async () => {
    try {
      for (const f of files) {
        if (f.label === undefined) throw new CliError(`${f.where}: fitting needs labelled images in class folders (<label>/<name>.png)`)
        const body = await readFile(f.path)
        await new Promise<void>((resolve, reject) => p.entry({ name: `${f.label}/${basename(f.path)}`, size: body.length }, body, (err) => (err ? reject(err) : resolve())))
        onFile(body.length)
      }
      p.finalize()
    } catch (err) {
      p.destroy(err as Error)
    }
  }
  void fill()
  const iter = (p as unknown as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await iter.next()
        if (done) controller.close()
        else controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.length))
      } catch (err) {
        controller.error(err)
      }
    },
  })
}
