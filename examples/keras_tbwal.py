"""keras_tbwal.py -- Keras 3 model.fit with tbwal.keras.TensorBoard, a drop-in for
keras.callbacks.TensorBoard: update_freq="batch" shows each batch within a second.

    python examples/keras_tbwal.py [LOGDIR] [SYNC_DIR]
"""
import sys

import numpy as np
import keras

import tbwal.keras

logdir = sys.argv[1] if len(sys.argv) > 1 else "runs/keras"
sync_dir = sys.argv[2] if len(sys.argv) > 2 else None
x = np.random.default_rng(0).normal(size=(512, 4)).astype("float32")
y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
tb = tbwal.keras.TensorBoard(logdir, update_freq="batch", histogram_freq=1, sync_dir=sync_dir)
model.fit(x, y, batch_size=16, epochs=3, validation_split=0.25, callbacks=[tb], verbose=0)
print("logged to", logdir + "/train and", logdir + "/validation")
