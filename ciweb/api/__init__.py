"""The CI web service: Zuul's REST API served with ciweb's WSGI framework."""
