// The README's Fashion-MNIST table is what `npm run reproduce` prints for the image demo, through
// calserve's image path; and the paper's claims hold on it.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import t from 'tap'
import { reproduceFashion } from '../../examples/fashion/reproduce.js'

const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8')

t.test('README fashion table = reproduction, and calibration helps', async (t) => {
  const table = await reproduceFashion()
  const block = /<!-- reproduce-fashion:begin -->\n([\s\S]*?)\n<!-- reproduce-fashion:end -->/.exec(readme)
  t.ok(block, 'the README has a reproduce-fashion block')
  t.equal(block![1]!.trim(), table.trim(), 'run `npx tsx examples/fashion/reproduce.ts` and paste its table into the README')
  const rows = table
    .split('\n')
    .slice(2)
    .map((line) =>
      line
        .split('|')
        .slice(2, 7)
        .map((c) => Number(c.trim())),
    )
  const [pre, ft, , val] = rows as number[][]
  t.ok(ft![2]! < pre![2]!, `absent-class accuracy drops after fine-tuning (${pre![2]} → ${ft![2]})`)
  t.ok(val![2]! > ft![2]! && val![3]! > ft![3]!, `γ from the validation images recovers absent classes and overall accuracy (${ft![3]} → ${val![3]})`)
})
