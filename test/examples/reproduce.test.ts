// The README's results table is what `npm run reproduce` prints: the demo's claims can't drift
// from the code and the committed models.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import t from 'tap'
import { reproduce } from '../../examples/digits/reproduce.js'

const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8')

t.test('README table = reproduction', async (t) => {
  const { table, svg } = await reproduce()
  const block = /<!-- reproduce:begin -->\n([\s\S]*?)\n<!-- reproduce:end -->/.exec(readme)
  t.ok(block, 'the README has a reproduce block')
  t.equal(block![1]!.trim(), table.trim(), 'run `npm run reproduce` and paste its table into the README')
  t.match(svg, /pre-trained — AUSUC/)
  t.match(svg, /fine-tuned — AUSUC/)
})

t.test('the paper’s claims hold on the demo', async (t) => {
  const { table } = await reproduce()
  const rows = table
    .split('\n')
    .slice(2)
    .map((line) =>
      line
        .split('|')
        .slice(2, 7)
        .map((c) => Number(c.trim())),
    )
  const [pre, ft, , val] = rows
  // columns: γ, Acc_S/Y, Acc_U/Y, Acc_Y/Y, AUSUC
  t.ok(ft![2]! < pre![2]! / 2, `absent-class accuracy collapses after fine-tuning (${pre![2]} → ${ft![2]})`)
  t.ok(ft![4]! >= pre![4]!, `the fine-tuned AUSUC is not worse (${pre![4]} → ${ft![4]})`)
  t.ok(val![3]! > pre![3]!, `calibrated fine-tuned beats pre-trained overall (${pre![3]} → ${val![3]})`)
})
