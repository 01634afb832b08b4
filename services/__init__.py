"""The running processes of tagstream, one package each: the tagger and the local Triton host."""
