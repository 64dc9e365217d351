from rnn_sweep.cli import main

main()
