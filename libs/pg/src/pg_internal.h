/* Helpers shared by the pool, the command helpers and the migration runner of libs/pg. */
#ifndef VX_PG_INTERNAL_H
#define VX_PG_INTERNAL_H

#include <libpq-fe.h>
#include <stddef.h>

/* Copies libpq's message into err without its trailing newlines. */
void pg_copy_msg(char *err, size_t cap, const char *msg);

/* Sends server notices and warnings to the JSON log instead of libpq's default, which prints
 * plain text on stderr. */
void pg_route_notices(PGconn *c);

#endif
