"""The WSGI entry point for other hosts: gunicorn, uWSGI, waitress, mod_wsgi.

``application`` is the pipeline of ``[api] paste_config``, loaded with the options of
the file named by the ``CIWEB_CONFIG_FILE`` environment variable (default
``/etc/ciweb/ciweb.conf``)::

    CIWEB_CONFIG_FILE=etc/ciweb.conf gunicorn -w 2 -b 127.0.0.1:9000 ciweb.api.wsgi:application

The host, not ciweb, then owns the sockets, limits and TLS: the ``[server]`` and ``[ssl]``
options do not apply.  Building the application is this module's import-time work, as
every WSGI host expects of its entry point.
"""

from __future__ import annotations

import os

from ciweb import conf as ciweb_conf
from ciweb.cmd.api import load_pipeline

__all__ = ["application"]

DEFAULT_CONFIG_FILE = "/etc/ciweb/ciweb.conf"


def make_application(config_file: str | None = None):
    """Return the paste pipeline configured by *config_file* (or ``CIWEB_CONFIG_FILE``).

    :param config_file: path of ciweb.conf.
    :raises ConfigError: naming the file or option that is wrong.
    """
    path = config_file or os.environ.get("CIWEB_CONFIG_FILE", DEFAULT_CONFIG_FILE)
    if not os.path.isfile(path):
        raise ciweb_conf.ConfigError(f"CIWEB_CONFIG_FILE: {path} not found")
    conf = ciweb_conf.load([], config_files=[path], prog="ciweb")
    return load_pipeline(conf)


application = make_application()
