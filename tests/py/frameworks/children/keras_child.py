"""keras_child.py LOGDIR -- Keras 3 model.fit with tbwal.keras.TensorBoard
(update_freq="batch"), and in the same batches tf.summary code on a
tbwal.tf writer, eagerly and inside a tf.function. Trains until killed."""
import sys
import time

import numpy as np
import tensorflow as tf
import keras

import tbwal.keras
import tbwal.tf
from ackutil import ack, say

logdir = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32"))[:, None]

model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")

tb = tbwal.keras.TensorBoard(logdir + "/keras", update_freq="batch", histogram_freq=1)
writer = tbwal.tf.create_file_writer(logdir + "/tfsummary")


@tf.function
def fn_summary(value, step):
    with writer.as_default():
        tf.summary.scalar("fn_loss", value * 2.0, step=step)
    return value


class Ack(keras.callbacks.Callback):
    """Runs after tb's hooks: everything tb logged for this batch has returned."""

    def on_train_batch_end(self, batch, logs=None):
        step = tb._global_train_batch
        for name in logs:
            ack("keras/train", "batch_" + name, step)
        loss = float(logs["loss"])
        with writer.as_default():
            tf.summary.scalar("eager_loss", loss, step=step)
        ack("tfsummary", "eager_loss", step)
        fn_summary(tf.constant(loss), tf.constant(step, tf.int64))
        ack("tfsummary", "fn_loss", step)
        time.sleep(0.01)

    def on_epoch_end(self, epoch, logs=None):
        ack("keras/train", "epoch_loss", epoch)


say("start")
model.fit(x, y, batch_size=4, epochs=1000, verbose=0, callbacks=[tb, Ack()])
say("finished")
