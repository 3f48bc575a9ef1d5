"""tf_summary_tbwal.py -- tf.summary code on tbwal: only the writer line changes.

    python examples/tf_summary_tbwal.py [LOGDIR]
"""
import sys

import tensorflow as tf

import tbwal.tf

logdir = sys.argv[1] if len(sys.argv) > 1 else "runs/tf_summary"
writer = tbwal.tf.create_file_writer(logdir)          # was tf.summary.create_file_writer(logdir)
w = tf.Variable(0.0)
opt = tf.keras.optimizers.SGD(0.1)


@tf.function
def train_step(step):
    with tf.GradientTape() as tape:
        loss = (w - 3.0) ** 2
    opt.apply_gradients([(tape.gradient(loss, w), w)])
    with writer.as_default():                         # inside tf.function
        tf.summary.scalar("loss", loss, step=step)
        tf.summary.histogram("w", tf.reshape(w, [1]), step=step)
    return loss


for step in range(100):
    loss = train_step(tf.constant(step, tf.int64))
    with writer.as_default():                         # eagerly
        tf.summary.scalar("loss_eager", loss, step=step)
writer.flush()
print("logged 100 steps to", logdir)
