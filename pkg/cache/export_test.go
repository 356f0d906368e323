package cache

// SetTicketHook lets tests see the DoGet tickets the client sends.
func SetTicketHook(f func(ticket string)) { ticketHook = f }
