"""Human review of a night's outputs: decisions as lake rows, the reviewed note, the audio, the pictures.

The reviewer page (``medscribe.quality.review_app``) is the only writer; these modules know nothing of HTTP.
"""
