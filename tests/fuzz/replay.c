/* Runs a fuzz target's entry point over files, without libFuzzer: the committed corpora
 * (seeds, and every input that once crashed) replayed by meson on each build, under the
 * sanitizers in the ASan build. TAP, one line per file.
 *   replay_query DIR...   replay_sigv4 DIR... */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	int n = 0;
	for (int i = 1; i < argc; i++) {
		struct dirent *d;
		char **names = NULL;
		size_t count = 0;
		DIR *dir = opendir(argv[i]);
		if (!dir) {
			printf("not ok %d - open %s\n", ++n, argv[i]);
			return 1;
		}
		while ((d = readdir(dir))) {
			if (d->d_name[0] == '.')
				continue;
			names = realloc(names, (count + 1) * sizeof(*names));
			names[count++] = strdup(d->d_name);
		}
		closedir(dir);
		qsort(names, count, sizeof(*names), cmp);
		for (size_t j = 0; j < count; j++) {
			char path[4096];
			unsigned char *buf = NULL;
			long len;
			FILE *f;
			snprintf(path, sizeof(path), "%s/%s", argv[i], names[j]);
			f = fopen(path, "rb");
			if (!f || fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 ||
			    fseek(f, 0, SEEK_SET) < 0 || !(buf = malloc((size_t)len + 1)) ||
			    fread(buf, 1, (size_t)len, f) != (size_t)len) {
				printf("not ok %d - read %s\n", ++n, path);
				return 1;
			}
			fclose(f);
			LLVMFuzzerTestOneInput(buf, (size_t)len);
			free(buf);
			printf("ok %d - %s\n", ++n, names[j]);
			free(names[j]);
		}
		free(names);
	}
	printf("1..%d\n", n);
	return 0;
}
