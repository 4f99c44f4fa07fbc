// The official TypeScript SDK client against `llminst serve` over stdio: it lists the tools,
// then calls each one; the client checks every result that is not an error against the tool's
// output schema (with ajv) and throws when one does not conform or a schema does not compile.
// Usage: node ts_client.mjs CLIENT_PACKAGE_DIR PYTHON CALLS_JSON; prints one JSON line per call.
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const [packageDir, python, callsJson] = process.argv.slice(2);
const load = (file) => import(pathToFileURL(join(packageDir, "dist", file)).href);
const { Client } = await load("index.mjs");
const { StdioClientTransport } = await load("stdio.mjs");

const transport = new StdioClientTransport({
  command: python,
  args: ["-m", "llminst.cli", "serve"],
  env: process.env,
  stderr: "ignore",
});
const client = new Client({ name: "llminst-test", version: "1.0.0" });
await client.connect(transport);
await client.listTools();
for (const [name, args] of JSON.parse(callsJson)) {
  const result = await client.callTool({ name, arguments: args });
  console.log(JSON.stringify({ name, isError: Boolean(result.isError), structured: result.structuredContent }));
}
await client.close();
