"""A referral's case file: the JSON record, its HTML and PDF, the demand letter, and the
check of the audit chain it quotes.

Pure rendering: the caller gathers the inputs (`record.CaseFileInputs`) and stores the
results; nothing here reads the table or writes to S3.
"""
