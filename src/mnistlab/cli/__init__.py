"""The ``mnistlab`` command line, one module per subcommand group."""
