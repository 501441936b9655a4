"""Git credentials for a git-URL fleet repo, from an Airflow connection.

With the git provider installed, its ``GitHook`` reads the connection (conn type ``git``: login,
password = access token, extra ``private_key``); without it, the same fields are read from the
connection directly. A connection id that does not exist means an anonymous remote (a public
repository, or ``file://`` in tests). The credentials go to ``fleet.gitsource``, which never puts
them into a URL or a command line.
"""

from __future__ import annotations

from fleet.gitsource import GitAuth


def git_auth(conn_id: str | None) -> GitAuth | None:
    if not conn_id:
        return None
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        from airflow.providers.git.hooks.git import GitHook
    except ImportError:
        GitHook = None
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    if GitHook is not None:
        hook = GitHook(git_conn_id=conn_id)
        private_key = getattr(hook, "private_key", None)
        if not private_key and getattr(hook, "key_file", None):
            with open(hook.key_file) as f:
                private_key = f.read()
        return GitAuth(username=conn.login or None, token=getattr(hook, "auth_token", None) or None,
                       private_key=private_key or None)
    extra = conn.extra_dejson
    return GitAuth(username=conn.login or None, token=conn.password or None,
                   private_key=extra.get("private_key") or None)
