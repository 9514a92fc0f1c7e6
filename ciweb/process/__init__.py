"""Process management: the process bus, its plugins, workers and the monitor port."""
