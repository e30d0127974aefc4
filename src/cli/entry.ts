/** The entry of the bundle and of the executable: run the CLI. */
import { runCli } from './main.js';

runCli();
