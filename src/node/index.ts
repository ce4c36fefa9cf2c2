/**
 * `rosetta/node`: the Node-only entry point. Everything that touches the file system lives here;
 * the main `rosetta` entry stays browser-safe.
 */
export { checkRelativePath, openFile, readBytes, resolveInside, withTempDir, writeFilesInside } from './files.js';
export {
  loadFile,
  loadModel,
  readTensorFile,
  readTensorsFile,
  saveModel,
  saveWeights,
  writeFileAt,
  writeFiles,
  writeNpyFile,
  writeNpzFile,
  type LoadOptions,
  type SaveOptions,
  type SaveResult,
} from './model-io.js';
// Keras-style API on disk: importing rosetta/node also registers the file system behind model.save(path).
export { loadKerasModel, saveKerasModel, modelCheckpoint } from './keras.js';
