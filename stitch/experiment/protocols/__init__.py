"""Stitching protocols: how an experiment's models are obtained and stitched (``protocol = "<name>"``).

Every protocol is a :class:`Protocol` subclass registered in :data:`PROTOCOLS` (``frozen``, ``end-to-end``;
plugins add more through the ``stitch_register_protocols`` hook). The runner looks the protocol up, adds its
:meth:`~Protocol.check` rules to the file's validation and calls its :meth:`~Protocol.run`, so a new
protocol is one file plus one :func:`register_protocol` line.

Example:
    >>> list_protocols()
    ['end-to-end', 'frozen']
"""

from __future__ import annotations

from stitch.experiment.protocols.base import Protocol, ProtocolOutput, RunContext, init_seed, reuse_or_train
from stitch.experiment.protocols.endtoend import EndToEndProtocol
from stitch.experiment.protocols.frozen import FrozenProtocol
from stitch.utils.names import BUILTIN, NameTable, describe

__all__ = ["PROTOCOLS", "Protocol", "ProtocolOutput", "RunContext", "FrozenProtocol", "EndToEndProtocol",
           "register_protocol", "get_protocol", "list_protocols", "init_seed", "reuse_or_train"]

#: ``name -> Protocol subclass``.
PROTOCOLS: NameTable[type[Protocol]] = NameTable("protocol", list_command="stitch protocols list")


def register_protocol(name: str, cls: type[Protocol], *, source: str = BUILTIN, description: str = "") -> None:
    """Register a :class:`Protocol` subclass as ``protocol = "<name>"``.

    Example:
        >>> class Twice(FrozenProtocol):
        ...     name = "twice"
        >>> register_protocol("twice", Twice, source="doc")
        >>> get_protocol("doc:twice").name
        'twice'
        >>> PROTOCOLS.unregister_source("doc")
    """
    if not (isinstance(cls, type) and issubclass(cls, Protocol)):
        raise TypeError(f"protocol {name!r} must be a subclass of stitch.experiment.protocols.Protocol, got {cls!r}")
    PROTOCOLS.register(name, cls, source=source, description=description or describe(cls))


def get_protocol(name: str) -> Protocol:
    """A new instance of the protocol registered as ``name``.

    Example:
        >>> get_protocol("frozen").in_process, get_protocol("end-to-end").in_process
        (False, True)
    """
    return PROTOCOLS.get(name)()


def list_protocols(pattern: str = "*") -> list[str]:
    """Names of the registered protocols matching ``pattern``.

    Example:
        >>> list_protocols("f*")
        ['frozen']
    """
    return PROTOCOLS.names(pattern)


register_protocol("frozen", FrozenProtocol, description="fixed encoders; decoders fitted on their latents")
register_protocol("end-to-end", EndToEndProtocol,
                  description="every encoder trained with the space as a layer, then stitched (Moschella et al.)")
