"""Exceptions defined two packages down, to check their dotted path survives the round trip."""


class PaymentDeclined(Exception):
    pass


class UnprintableError(Exception):
    """An exception whose ``str()`` itself raises."""

    def __str__(self) -> str:
        raise RuntimeError("this exception cannot be printed")
