"""The fault suite: real processes, real Azurite, every case bounded in time.

Each file here injects one kind of fault (a killed host, a storage outage, a hostile name,
a crafted spec) and asserts what a user would see: no run left non-terminal, nothing 202'd
lost, no step process left behind, nothing written outside its folder.
"""
