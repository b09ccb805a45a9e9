"""The one kind of error a user sees: bad input or a refused action. Its message names
the record and the field (or the rule) and says that nothing was changed; the CLI
prints it and exits 1, the API (later) answers 4xx with it."""


class UserError(Exception):
    pass
