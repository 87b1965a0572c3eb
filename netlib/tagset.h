/* EC2 tag lists ([{Key, Value}]) as create-tags and delete-tags change them; shared by vpcd's
 * objects and ec2d's instances. */
#pragma once
#include <jansson.h>

/* Adds or overwrites each tag of `tags` in `have`. Returns the new count. */
size_t tagset_put(json_t *have, json_t *tags);
/* Removes the tags named in `tags` (all if `tags` is empty; a tag with a Value only if the
 * value matches, as delete-tags does). */
void tagset_remove(json_t *have, json_t *tags);
