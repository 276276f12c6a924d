/** Every built-in plugin: one import and one register line each. */
import { register } from '../core/registry.js';
import forwardInput from './in/forward.js';
import httpInput from './in/http.js';
import unixInput from './in/unix.js';
import fileOutput from './out/file.js';
import nullOutput from './out/null.js';
import relabelOutput from './out/relabel.js';
import secondaryFileOutput from './out/secondary_file.js';
import stdoutOutput from './out/stdout.js';

register(stdoutOutput);
register(nullOutput);
register(relabelOutput);
register(fileOutput);
register(secondaryFileOutput);
register(httpInput);
register(forwardInput);
register(unixInput);
