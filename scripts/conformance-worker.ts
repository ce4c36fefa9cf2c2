/**
 * Worker-thread entry of the conformance runner: runs one case at a time in Rosetta and posts the
 * result. Running in a worker lets the runner terminate a case that exceeds its time limit even
 * when a kernel is stuck in a synchronous loop.
 */
import { parentPort } from 'node:worker_threads';
import { runRosettaCase } from './conformance-case.js';

parentPort?.on('message', (msg: { id: number; dir: string }) => {
  void runRosettaCase(msg.dir).then((result) => parentPort!.postMessage({ id: msg.id, result }));
});
parentPort?.postMessage({ ready: true });
