// The process entry of the `selfsup` command (bin/selfsup.js imports it): runs
// main() on the process's arguments and exits with its code. Kept apart from
// main.ts so that tests can import the parser without running a command.
import { main } from './main.ts';

const code = await main(process.argv.slice(2));
// Let pending stdout writes drain before exiting.
process.exitCode = code;
if (code !== 0) setTimeout(() => process.exit(code), 50).unref();
