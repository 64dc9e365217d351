"""Training: the only folder that imports TensorFlow and Keras (model, layers, callbacks, device, speed plan)."""
