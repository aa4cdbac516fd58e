"""Pure decisions over plain data: no I/O here, so everything is tested directly."""
