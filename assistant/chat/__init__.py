"""One conversation turn, from question to stored answer: the session, the grounding job that perceives
a question's attachments first, the sampling each answer gets, and recording its images."""
