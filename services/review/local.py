"""The reviewer the local stack (``tagstream up``) signs in with: for a developer's machine only.

The console starts with no reviewer unless ``TAGSTREAM_REVIEWERS`` names some; the local stack passes this
one. Its hash was made with ``tagstream review hash-password`` (a test checks that it matches).
"""

LOCAL_REVIEWER = "reviewer"
LOCAL_PASSWORD = "review-locally"  # noqa: S105 - documented default of the local stack, not a secret
LOCAL_PASSWORD_HASH = ("scrypt$16384$8$1$AZdl0dnsaJdbjOqezp+XcA==$"  # noqa: S105 - the hash of the above
                       "NaIphrlukfRIokGJmjqH6a/CnbM0wuN7+pvB0PLzOog=")
