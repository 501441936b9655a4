"""The error the drift operations answer with (CloudFormation's ValidationError, HTTP 400)."""


class ValidationError(Exception):
    pass
