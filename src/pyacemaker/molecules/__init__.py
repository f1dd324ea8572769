"""Molecules and reactions: sampling around a reaction path and reaction validation.

See docs/molecules.md; the chain is wired in :mod:`pyacemaker.flows.reaction`.
"""
