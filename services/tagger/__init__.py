"""The tagger: consume catalogue events, tag them with the model on Triton, publish the tags."""
