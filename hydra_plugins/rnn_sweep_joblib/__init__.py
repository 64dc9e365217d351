"""rnn-sweep's Hydra launcher for `hydra/launcher=joblib` (Hydra takes launchers only from the hydra_plugins
namespace)."""
