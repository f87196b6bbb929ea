"""The one exception the storage layer raises."""


class StorageError(Exception):
    """A storage operation failed.

    The message is ``"<uri>: <problem>"`` so that whoever reads it (a run's status, a CLI user, an
    operator on call) knows which object and what went wrong. It never carries a credential: the
    problem text is written by mlcd, not copied from a server or an environment variable.
    """

    def __init__(self, uri: str, problem: str):
        super().__init__(f"{uri}: {problem}")
        self.uri = uri
        self.problem = problem
