// Reading sets for `calserve predict` and `calserve fit`: csv, ndjson and json, errors naming the line.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { DatasetError, formatOf, openDataset, readDataset, findLabel, splitCsvLine } from '../../src/cli/datasets.js'
import { UsageError } from '../../src/cli/output.js'
import { tempDir } from '../helper.js'

type T = Parameters<typeof tempDir>[0]
const file = (t: T, name: string, text: string): string => {
  const path = join(tempDir(t, 'calserve-cli-'), name)
  writeFileSync(path, text)
  return path
}

t.test('csv with a label column: numbers are the sample, label stays a string', async (t) => {
  const path = file(t, 'set.csv', 'p0,p1,label,p2\n0.5,1,cat,-2\n\n3e-1,0,dog,4\n')
  t.same(await readDataset(path), [
    { input: [0.5, 1, -2], label: 'cat', where: `${path}:2` },
    { input: [0.3, 0, 4], label: 'dog', where: `${path}:4` },
  ])
})

t.test('csv without a label column, CRLF line ends, a BOM and quoted fields', async (t) => {
  const path = file(t, 'set.csv', '\uFEFFa,"b"\r\n1,2\r\n"3", 4\r\n')
  t.same(await readDataset(path), [
    { input: [1, 2], where: `${path}:2` },
    { input: [3, 4], where: `${path}:3` },
  ])
  const labelled = file(t, 'q.csv', 'x,Label\n1,"a, ""b"""\n2,\n')
  t.same(await readDataset(labelled), [
    { input: [1], label: 'a, "b"', where: `${labelled}:2` },
    { input: [2], where: `${labelled}:3` },
  ], 'an empty label is no label')
})

t.test('a malformed csv row names its line', async (t) => {
  const notNumber = file(t, 'bad.csv', 'p0,p1,label\n1,2,a\n1,oops,b\n')
  await t.rejects(readDataset(notNumber), { constructor: DatasetError, message: `${notNumber}:3: column 'p1' is not a number: 'oops'` })
  const columns = file(t, 'cols.csv', 'p0,p1,label\n1,2,a\n\n1,2\n')
  await t.rejects(readDataset(columns), { message: `${columns}:4: 2 columns, but the header has 3` })
  const empty = file(t, 'empty.csv', '1,2,a\n1,,a\n')
  await t.rejects(readDataset(empty), { message: /empty\.csv:2: column '2' is not a number: ''/ })
  const unclosed = file(t, 'q.csv', 'a,label\n1,"x\n')
  await t.rejects(readDataset(unclosed), { message: `${unclosed}:2: a quoted field is not closed` })
  await t.rejects(readDataset(file(t, 'none.csv', '\n\n')), { message: /the file is empty/ })
  await t.rejects(readDataset(file(t, 'onlylabel.csv', 'label\na\n')), { message: /onlylabel\.csv:1: the header has no sample columns/ })
})

t.test('ndjson: objects with or without a label, bare arrays, errors name the line', async (t) => {
  const path = file(t, 'set.ndjson', '{"input":[1,2],"label":"3"}\n\n{"input":[[1],[2]],"label":4}\n[5,6]\n{"input":[7,8],"label":null}')
  t.same(await readDataset(path), [
    { input: [1, 2], label: '3', where: `${path}:1` },
    { input: [[1], [2]], label: 4, where: `${path}:3` },
    { input: [5, 6], where: `${path}:4` },
    { input: [7, 8], where: `${path}:5` },
  ])
  const badJson = file(t, 'bad.ndjson', '[1]\n{"input": [1,\n')
  await t.rejects(readDataset(badJson), { message: new RegExp(`^${badJson}:2: not valid JSON`) })
  const noInput = file(t, 'bad.jsonl', '{"x": 1}\n')
  await t.rejects(readDataset(noInput), { message: `${noInput}:1: expected {"input": [...], "label": ...} or an array` })
  const badLabel = file(t, 'l.ndjson', '{"input": [1], "label": [1]}\n')
  await t.rejects(readDataset(badLabel), { message: /l\.ndjson:1: a label must be a label name or a class index/ })
})

t.test('json: {inputs, labels?}, an array of samples, or an array of records', async (t) => {
  const obj = file(t, 'a.json', JSON.stringify({ inputs: [[1], [2]], labels: ['x', 1] }))
  t.same(await readDataset(obj), [
    { input: [1], label: 'x', where: `${obj} inputs[0]` },
    { input: [2], label: 1, where: `${obj} inputs[1]` },
  ])
  const noLabels = file(t, 'b.json', JSON.stringify({ inputs: [[1, 2]] }))
  t.same(await readDataset(noLabels), [{ input: [1, 2], where: `${noLabels} inputs[0]` }])
  const arr = file(t, 'c.json', JSON.stringify([[1, 2], { input: [3, 4], label: 'y' }]))
  t.same(await readDataset(arr), [
    { input: [1, 2], where: `${arr} [0]` },
    { input: [3, 4], label: 'y', where: `${arr} [1]` },
  ])
  await t.rejects(readDataset(file(t, 'd.json', JSON.stringify({ inputs: [[1]], labels: [] }))), { message: /"labels" must be an array as long as "inputs" \(1\)/ })
  await t.rejects(readDataset(file(t, 'e.json', '{"samples": []}')), { message: /expected \{"inputs"/ })
  await t.rejects(readDataset(file(t, 'f.json', '{')), { message: /f\.json: not valid JSON/ })
})

t.test('the format comes from the extension; a missing file says so', async (t) => {
  t.equal(formatOf('x.CSV'), 'csv')
  t.equal(formatOf('x.jsonl'), 'ndjson')
  t.throws(() => formatOf('x.txt'), UsageError)
  await t.rejects(openDataset(join(tempDir(t), 'missing.csv')), { constructor: DatasetError, message: /cannot read .*missing\.csv/ })
})

t.test('bytesRead reaches the file size', async (t) => {
  for (const [name, text] of [
    ['s.csv', 'a,label\n1,x\n2,y\n'],
    ['s.ndjson', '[1]\n[2]\n'],
    ['s.json', '[[1],[2],[3]]'],
  ] as const) {
    const ds = await openDataset(file(t, name, text))
    t.equal(ds.size, Buffer.byteLength(text))
    let n = 0
    for await (const _ of ds) n++
    t.ok(n > 0)
    t.equal(ds.bytesRead(), ds.size, name)
  }
})

t.test('a large csv streams in many chunks, lines split across them', async (t) => {
  const rows = Array.from({ length: 5000 }, (_, i) => `${i},${i / 7},${i % 3}`)
  const path = file(t, 'big.csv', `a,b,label\n${rows.join('\n')}\n`)
  const all = await readDataset(path)
  t.equal(all.length, 5000)
  t.same(all[4999], { input: [4999, 4999 / 7], label: '1', where: `${path}:5001` })
})

t.test('splitCsvLine and findLabel', async (t) => {
  t.same(splitCsvLine('a,,"b,c",""', 'x'), ['a', '', 'b,c', ''])
  t.throws(() => splitCsvLine('"a"b,c', 'f:1'), { message: "f:1: text after a quoted field: 'b'" })
  const labels = ['cat', 'dog', '7']
  t.same(findLabel(labels, 'dog'), { name: 'dog', index: 1 })
  t.same(findLabel(labels, 1), { name: 'dog', index: 1 })
  t.same(findLabel(labels, '0'), { name: 'cat', index: 0 }, 'an integer string that is not a name is an index')
  t.same(findLabel(labels, '7'), { name: '7', index: 2 }, 'a name wins over an index')
  t.equal(findLabel(labels, 'cow'), undefined)
  t.equal(findLabel(labels, 3), undefined)
  t.equal(findLabel(labels, 1.5), undefined)
})
