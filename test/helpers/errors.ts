/**
 * Catching the typed error a refusal test expects. Shared by the hostile-input tests (test/bad/*)
 * and the format tests, so every one of them checks the same thing: the call throws, and what it
 * throws is a RosettaError (any other exception, e.g. a raw RangeError, fails the test as itself).
 */
import { isRosettaError } from '../../src/ir/errors.js';

/** The RosettaError `f` throws; rethrows any other exception; throws when `f` returns normally. */
export function errorOf(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    if (isRosettaError(e)) return e;
    throw e;
  }
  throw new Error('expected an error');
}
