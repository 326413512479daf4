// interop.mjs reads and rewrites Parquet files with other implementations,
// for TestInterop in parquet_test.go:
//
//   node interop.mjs hyparquet IN.parquet          prints the rows as JSON, as hyparquet reads them
//   node interop.mjs duckdb-csv IN.parquet OUT.csv  DuckDB reads IN and writes its rows as CSV
//   node interop.mjs duckdb-parquet IN.parquet OUT.parquet
//                                                  DuckDB reads IN and writes it again as Parquet
//   node interop.mjs duckdb-types IN.parquet       prints DuckDB's column types as JSON
//
// Packages are resolved from the folder named by RETAIN_NODE_MODULES (the
// folder holding node_modules), set up with
//   npm i hyparquet @duckdb/node-api
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const base = process.env.RETAIN_NODE_MODULES
if (!base) throw new Error('RETAIN_NODE_MODULES is not set')
const req = createRequire(base + '/')
const load = async (name) => import(pathToFileURL(req.resolve(name)).href)

const [cmd, input, output] = process.argv.slice(2)
const quote = (s) => "'" + s.replaceAll("'", "''") + "'"

async function duckdb() {
  const duck = await load('@duckdb/node-api')
  const db = await duck.DuckDBInstance.create(':memory:')
  const con = await db.connect()
  await con.run("SET TimeZone = 'UTC'")
  return con
}

switch (cmd) {
  case 'hyparquet': {
    const hp = await load('hyparquet')
    const file = await hp.asyncBufferFromFile(input)
    const rows = await hp.parquetReadObjects({ file })
    const norm = (v) => v instanceof Date ? v.toISOString() : typeof v === 'bigint' ? v.toString() : v
    console.log(JSON.stringify(rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, norm(v)])))))
    break
  }
  case 'duckdb-csv': {
    const con = await duckdb()
    await con.run(`COPY (SELECT * FROM read_parquet(${quote(input)})) TO ${quote(output)} (FORMAT csv, HEADER)`)
    break
  }
  case 'duckdb-parquet': {
    const con = await duckdb()
    await con.run(`COPY (SELECT * FROM read_parquet(${quote(input)})) TO ${quote(output)} (FORMAT parquet)`)
    break
  }
  case 'duckdb-types': {
    const con = await duckdb()
    const r = await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${quote(input)})`)
    console.log(JSON.stringify(r.getRowObjectsJson().map((c) => [c.column_name, c.column_type])))
    break
  }
  default:
    throw new Error('unknown command ' + cmd)
}
