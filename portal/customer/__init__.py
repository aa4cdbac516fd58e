"""What a customer does and sees: the tracking page's data, page actions, the SMS conversation,
Twilio delivery reports and the appointment as a calendar file.

Services here take their collaborators as arguments; they never import ``portal.web``
(wire formats are made at the web edge) or a channel.
"""
