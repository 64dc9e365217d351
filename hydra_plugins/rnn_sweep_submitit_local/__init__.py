"""rnn-sweep's Hydra launcher for `hydra/launcher=submitit_local` (Hydra takes launchers only from the hydra_plugins
namespace)."""
