/** The seed's two Keras programs written with the Keras-style API (shared by the tests). */
import { Sequential, layers } from '../../src/keras/index.js';

/** keras.Sequential([Conv2D(32, 3, padding='same', activation='relu', input_shape=(28,28,1)), …, Dense(10, activation='softmax')]). */
export function seedCnn(seed?: number): Sequential {
  return new Sequential(
    [
      layers.Conv2D(32, 3, { padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }),
      layers.MaxPooling2D(2),
      layers.Conv2D(64, 3, { padding: 'same', activation: 'relu' }),
      layers.MaxPooling2D(2),
      layers.Flatten(),
      layers.Dense(128, { activation: 'relu' }),
      layers.Dropout(0.5),
      layers.Dense(10, { activation: 'softmax' }),
    ],
    { seed },
  );
}

/** The one-neuron house-price model: Sequential([Dense(1, input_shape=[1])]). */
export function housePrice(seed?: number): Sequential {
  return new Sequential([layers.Dense(1, { inputShape: [1] })], { seed });
}
