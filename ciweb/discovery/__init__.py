"""Service discovery: registration of running servers (ZooKeeper)."""
